#!/usr/bin/env python3
"""Writes the small parquet fixtures of crates/probe-datasets/tests/hub_parquet.rs.

They have the schema of the Hugging Face Hub's official datasets, which `download_mnist` and
`download_cifar10` convert to IDX files and CIFAR-10 binary batches:

- ylecun/mnist, `mnist/{train,test}-00000-of-00001.parquet`: `image` struct {bytes: binary
  (PNG, 28x28 grey), path: string (null)}, `label` int64. Here: the first 64 digits of
  ../shared/data/mnist-10k, 48 as train and 16 as test.
- uoft-cs/cifar10, `plain_text/{train,test}-00000-of-00001.parquet`: `img` struct {bytes
  (PNG, 32x32 RGB), path}, `label` int64. Here: 40 pseudo-random images, 30 train and 10 test,
  from `cifar_pixel` below, which the test computes again (keep the two in step).
- `no-label.parquet`: an MNIST-like file whose label column is called `digit` (an error case).

Written as pyarrow writes by default (snappy, dictionary encoding), in several row groups, with
the `huggingface` schema metadata that `datasets` adds. Needs pyarrow, pillow and numpy.

    python3 scripts/make_hub_fixtures.py [--shared ../shared]
"""
import argparse
import gzip
import io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "probe-datasets", "tests", "fixtures", "hub")
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]


def cifar_pixel(i, c, y, x):
    """Value of channel `c` (0 R, 1 G, 2 B) at row `y`, column `x` of image `i`: a hash of the
    image, channel and 4x4 block, plus a gradient inside the block (so PNG compresses it)."""
    h = (i * 73856093) ^ (c * 19349663) ^ ((y >> 2) * 83492791) ^ ((x >> 2) * 2654435761)
    h &= 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 15
    return (h + 3 * x + 7 * y) & 0xFF


def cifar_label(i):
    return (i * 7 + 3) % 10


def png(array, mode):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def write(path, column, pngs, labels, label_name, label_names, row_group_size):
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    features = {column: {"_type": "Image"},
                label_name: {"names": label_names, "_type": "ClassLabel"}}
    schema = pa.schema([(column, image_type), (label_name, pa.int64())],
                       metadata={"huggingface": json.dumps({"info": {"features": features}})})
    table = pa.table({column: [{"bytes": b, "path": None} for b in pngs],
                      label_name: [int(v) for v in labels]}, schema=schema)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size, compression="snappy")
    return os.path.getsize(path)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    args = parser.parse_args()

    d = os.path.join(args.shared, "data", "mnist-10k")
    images = np.frombuffer(gzip.open(os.path.join(d, "images-idx3-ubyte.gz")).read()[16:],
                           np.uint8).reshape(-1, 28, 28)[:64]
    labels = np.frombuffer(gzip.open(os.path.join(d, "labels-idx1-ubyte.gz")).read()[8:],
                           np.uint8)[:64]
    digits = [png(im, "L") for im in images]
    names = [str(k) for k in range(10)]
    mnist = os.path.join(OUT, "ylecun--mnist", "mnist")
    sizes = {
        "mnist train": write(os.path.join(mnist, "train-00000-of-00001.parquet"), "image",
                             digits[:48], labels[:48], "label", names, 16),
        "mnist test": write(os.path.join(mnist, "test-00000-of-00001.parquet"), "image",
                            digits[48:], labels[48:], "label", names, 16),
        "no-label": write(os.path.join(OUT, "no-label.parquet"), "image", digits[:4],
                          labels[:4], "digit", names, 16),
    }

    cifar = np.array([[[[cifar_pixel(i, c, y, x) for c in range(3)] for x in range(32)]
                       for y in range(32)] for i in range(40)], np.uint8)  # [i, y, x, c]
    pictures = [png(im, "RGB") for im in cifar]
    cifar_labels = [cifar_label(i) for i in range(40)]
    plain = os.path.join(OUT, "uoft-cs--cifar10", "plain_text")
    sizes["cifar train"] = write(os.path.join(plain, "train-00000-of-00001.parquet"), "img",
                                 pictures[:30], cifar_labels[:30], "label", CIFAR_NAMES, 8)
    sizes["cifar test"] = write(os.path.join(plain, "test-00000-of-00001.parquet"), "img",
                                pictures[30:], cifar_labels[30:], "label", CIFAR_NAMES, 8)

    # The CIFAR-10 binary records the conversion must produce: label, then R, G, B planes.
    records = b"".join(bytes([cifar_labels[i]]) + cifar[i].transpose(2, 0, 1).tobytes()
                       for i in range(40))
    for name, size in sizes.items():
        print(f"{name}: {size} bytes")
    print(f"total: {sum(sizes.values())} bytes")
    print(f"cifar records fnv1a64: {fnv1a64(records):#018x}")


if __name__ == "__main__":
    main()
