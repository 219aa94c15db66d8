"""``python -m testtools.run``, except that an expected failure fails.

testtools' text runner takes an expected failure (``expectFailure``,
``unittest.expectedFailure``) for a success and does not even name it:
``Ran N tests`` then ``OK``, every test counted. The real-Nova tiers
(tools/run-nova-tests.sh, tools/run-nova34-tests.sh) run with this one
instead: each expected failure is shown (``EXPECTED FAILURE: <test id>``
and what failed), the run ends ``FAILED (..., expected failures=N)`` and
exits 1. A known limit is asserted plainly, as it behaves today, in a test
of its own: a check cut short by an expected failure is no check.

The last line tells what ran: ``OK (passed=N)`` (``, skipped=M`` when some
were skipped), or ``FAILED (failures=F, expected failures=X,
unexpected successes=U, passed=N, skipped=M)``; tools/run-tests.sh counts
the passes from it.

Usage: python tools/testtools_run.py [testtools.run arguments]
       (from the repository's root, as ``python -m testtools.run``)
"""

import os
import sys
import time
from typing import Any, List, Tuple

from testtools import TestResult, TextTestResult, run


class NoExpectedFailureResult(TextTestResult):
    """testtools' text result; an expected failure is shown and fails the
    run, and the summary counts each outcome."""

    def startTestRun(self) -> None:
        super().startTestRun()
        self._started = time.monotonic()

    def wasSuccessful(self) -> bool:
        return bool(super().wasSuccessful() and not self.expectedFailures)

    def _skipped(self) -> int:
        reasons = getattr(self, 'skip_reasons', None) or {}
        return sum(len(tests) for tests in reasons.values())

    def _show(self, label: str, found: List[Tuple[Any, str]]) -> None:
        for test, details in found:
            self.stream.write('%s%s: %s\n%s%s' % (
                self.sep1, label, test.id(), self.sep2, details))

    def stopTestRun(self) -> None:
        if self.stream is None:
            TestResult.stopTestRun(self)
            return
        if getattr(self, 'verbosity', 0) == 1 and self.testsRun:
            # (The line of progress marks testtools >= 2.8 writes.)
            self.stream.write('\n')
        self._show('ERROR', self.errors)
        self._show('FAIL', self.failures)
        self._show('EXPECTED FAILURE', self.expectedFailures)
        for test in self.unexpectedSuccesses:
            self.stream.write('%sUNEXPECTED SUCCESS: %s\n%s' % (
                self.sep1, test.id(), self.sep2))
        failures = len(self.failures) + len(self.errors)
        expected = len(self.expectedFailures)
        unexpected = len(self.unexpectedSuccesses)
        skipped = self._skipped()
        passed = (self.testsRun - failures - expected - unexpected
                  - skipped)
        self.stream.write('\nRan %d test%s in %.3fs\n' % (
            self.testsRun, '' if self.testsRun == 1 else 's',
            time.monotonic() - self._started))
        counts = ['passed=%d' % passed]
        if skipped:
            counts.append('skipped=%d' % skipped)
        if self.wasSuccessful():
            self.stream.write('OK (%s)\n' % ', '.join(counts))
        else:
            self.stream.write('FAILED (%s)\n' % ', '.join(
                ['failures=%d' % failures,
                 'expected failures=%d' % expected,
                 'unexpected successes=%d' % unexpected] + counts))
            if expected:
                self.stream.write(
                    'An expected failure fails the run: assert the known '
                    'limit plainly, in a test of its own.\n')
        TestResult.stopTestRun(self)


def main() -> None:
    # As ``python -m`` does: the working directory first on the path (the
    # test ids are the repository's modules), not this script's directory.
    sys.path[0] = os.getcwd()
    run.TextTestResult = NoExpectedFailureResult  # type: ignore[misc]
    run.main(sys.argv, sys.stdout)


if __name__ == '__main__':
    main()
