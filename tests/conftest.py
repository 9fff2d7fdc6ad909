"""Shared test set-up: 1 thread for torch / ONNX Runtime / BLAS (2-core CI machine)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
