"""A stand-in for `python3` in the Makefile tests (tests/repo/test_make_venv.py writes it out with a shebang).

FAKE_PYTHON_VERSION  the version it reports (sys.version_info inside `-c` code), e.g. 3.10.12
FAKE_PYTHON_FAIL     "venv": `-m venv DIR` leaves a half-built DIR and fails, as without ensurepip;
                     "pip": `-m pip install` fails, as when a pinned version cannot be found.
`-m venv DIR` puts a copy of this script at DIR/bin/python; `-m pip install` succeeds without installing.
"""

import os
import shutil
import sys

VERSION = tuple(int(part) for part in os.environ.get("FAKE_PYTHON_VERSION", "3.12.4").split("."))
FAIL = os.environ.get("FAKE_PYTHON_FAIL", "")
args = sys.argv[1:]

if args[:1] == ["-c"]:
    sys.version_info = (*VERSION, "final", 0)
    sys.argv = ["-c", *args[2:]]
    exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102 - runs the Makefile's check
elif args[:2] == ["-m", "venv"]:
    bin_dir = os.path.join(args[2], "bin")
    os.makedirs(bin_dir)
    shutil.copy(__file__, os.path.join(bin_dir, "python"))
    if FAIL == "venv":
        sys.exit("Error: Command '['python', '-m', 'ensurepip', '--upgrade', '--default-pip']' returned non-zero exit status 1.")
elif args[:3] == ["-m", "pip", "install"]:
    if FAIL == "pip":
        sys.exit("ERROR: No matching distribution found for requests==2.34.2")
else:
    sys.exit(f"fake python: unexpected arguments {args}")
