"""What ``novahooks simulate --count N`` costs per set of plugins: wall
time and peak memory of the installed console script, as ratios against
``audit`` alone measured in the same run. It prints, never asserts.

    python tools/bench/bench_simulate.py                # N = 2000
    python tools/bench/bench_simulate.py --count 300    # quicker
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

SETS = ('audit', 'audit,storage', 'audit,netinfo', 'audit,dns',
        'audit,dns,storage,netinfo')


def run(novahooks: str, count: int, plugins: str) -> Tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one simulate, in its own empty
    configuration and working directory."""
    with tempfile.TemporaryDirectory() as scratch:
        conf = pathlib.Path(scratch, 'novahooks.conf')
        conf.write_text('[DEFAULT]\nstate_dir = %s\n' % scratch)
        started = time.perf_counter()
        child = subprocess.Popen(
            [novahooks, 'simulate', '--count', str(count), '--plugins',
             plugins], cwd=scratch, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=dict(os.environ, NOVAHOOKS_CONFIG=str(conf)))
        assert child.stderr is not None
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                            else -os.WTERMSIG(status))
    if child.returncode != 0:
        sys.exit('simulate --plugins %s exited %d:\n%s' % (
            plugins, child.returncode, errors.decode(errors='replace')))
    return wall, usage.ru_maxrss / 1024.0


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=2000)
    parser.add_argument('--novahooks', default=str(
        pathlib.Path(sys.executable).parent / 'novahooks'),
        help='the console script (default: beside this Python)')
    args = parser.parse_args(argv)
    print('novahooks simulate --count %d (%s)' % (args.count,
                                                 args.novahooks))
    print('%-28s %9s %7s %9s' % ('plugins', 'seconds', 'ratio', 'peak MB'))
    baseline = None
    for plugins in SETS:
        wall, peak = run(args.novahooks, args.count, plugins)
        baseline = baseline or wall
        print('%-28s %9.1f %6.1fx %9.0f' % (plugins, wall, wall / baseline,
                                            peak))


if __name__ == '__main__':
    main(sys.argv[1:])
