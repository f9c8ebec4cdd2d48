"""Operator and developer tools (not deployed)."""

import os

# The CLIs start the local durable engine in-process; its pool workers run compiled kernels
# single-threaded (devhost.durable.functions.init_worker). Numba fixes its thread count when
# first imported, so set it before anything imports numba, in this process and the workers it
# starts (else: "Cannot set NUMBA_NUM_THREADS to a different value once the threads have been
# launched"). NUMBA_NUM_THREADS in the environment still wins.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
