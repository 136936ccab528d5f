#!/usr/bin/env bash
# Put the small wheels run.sh needs into benchmarks/gpu/wheels/ (git-ignored; carried with the working
# tree to a GPU machine that has PyTorch or JAX, h5py, numpy, scikit-learn and OpenCV but no Keras and
# no internet). About 34 MB for CPython 3.11-3.13 on x86_64 Linux. Run here, where PyPI is reachable.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p wheels
PURE="keras==3.15.1 namex absl-py packaging pydantic==2.14.3 annotated-types typing-inspection typing-extensions"
BINARY="optree==0.20.0 pydantic-core==2.50.4 simplejpeg==1.9.0 pillow==13.0.0 ml-dtypes==0.6.0"
python3 -m pip download -q --no-deps --only-binary=:all: -d wheels $PURE
for py in 3.11 3.12 3.13; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    -d wheels $BINARY \
    || echo "fetch_wheels: some wheels for Python $py are missing" >&2
done
du -sh wheels
