"""Times commands run in turn, one run of each per round, and prints the
median of each in seconds, one per line. Interleaving keeps a machine whose
speed drifts (a shared VM) from favouring whichever command ran first.

usage: interleaved.py ROUNDS COMMAND...   (each COMMAND one shell word list)
"""

import os
import shlex
import statistics
import sys
import time

rounds = int(sys.argv[1])
commands = [shlex.split(c) for c in sys.argv[2:]]
devnull = os.open(os.devnull, os.O_WRONLY)
quiet = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
times = [[] for _ in commands]
warmup = 20
for round in range(warmup + rounds):
    for i, argv in enumerate(commands):
        start = time.perf_counter_ns()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=quiet)
        os.waitpid(pid, 0)
        if round >= warmup:
            times[i].append(time.perf_counter_ns() - start)
for t in times:
    print(statistics.median(t) / 1e9)
