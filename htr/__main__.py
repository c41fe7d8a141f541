"""``python -m htr`` and the ``htr`` command: TensorFlow's start-up settings first, then the CLI.

A command that needs the training extra (``train``, ``average``, ``blend``, ``widen``,
``export``, ``adapt``) where it is not installed says which to install, in one line, with exit status 2.
"""

import sys

from htr.tf_env import (
    configure_tensorflow,
    is_training_module,
    missing_extra_message,
    missing_for_command,
)


def main(argv: list[str] | None = None) -> int:
    configure_tensorflow()
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    problem = missing_for_command(command)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from htr.cli import main as cli_main

    try:
        return cli_main(argv)
    except ImportError as exc:
        if not is_training_module(exc):
            raise
        print(f"error: {missing_extra_message(f'htr {command}', [exc.name])}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
