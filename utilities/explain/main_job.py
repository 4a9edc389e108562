"""`make run`: the main job, `python assignment_3b.py My-Images/`, with real weights wherever it runs.

The assignment's network is VGG16, whose ImageNet weights (528 MB) come from Google's storage.
Where they cannot be fetched (an offline machine, a blocked host) `make run` says so in one
line and runs the same explanations on the real SqueezeNet 1.1 (`--model squeezenet`, whose
weights also ship on the package index) instead of stopping. The assignment command itself
never substitutes a network: only this wrapper does, and it says so. A VGG16 file that was
reached but is wrong (hash) is an error, not a reason to switch.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN_JOB = ["assignment_3b.py", "My-Images/"]


def main_job_command() -> list[str]:
    """The arguments of assignment_3b.py for this machine: VGG16 if its weights can be had, else SqueezeNet."""
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from models.pretrained import WeightsUnreachable, vgg16_weights

    try:
        vgg16_weights()
    except WeightsUnreachable as exc:
        print(f"make run: VGG16's ImageNet weights cannot be fetched here ({str(exc).split(';')[0]}); "
              "running the same explanations on the real SqueezeNet 1.1 (--model squeezenet) instead",
              file=sys.stderr)
        return [*MAIN_JOB, "--model", "squeezenet"]
    return list(MAIN_JOB)


def main() -> int:
    command = main_job_command()
    print("python " + " ".join(command), file=sys.stderr)
    return subprocess.run([sys.executable, *command], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
