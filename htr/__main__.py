import sys

from htr.tf_env import configure_tensorflow

configure_tensorflow()

from htr.cli import main  # noqa: E402

sys.exit(main())
