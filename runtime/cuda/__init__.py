"""The CUDA backend: kernel IR -> PTX (llvmlite's NVPTX target), run through the CUDA driver API.

``ptx.build_ptx`` renders a lowered program to PTX and a launch plan without any GPU or driver;
``driver`` wraps libcuda with ctypes (loaded on first use, never at import); ``backend`` runs a
compiled step on the device. Importing this package never touches the driver.
"""
