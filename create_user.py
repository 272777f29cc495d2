"""Create a user: models/users/USER_ID/ with a copy of the pretrained committee.

The command lives in trompa_mer/commands/create_user.py (also installed as trompa-mer-create-user).
"""

import sys

from trompa_mer.interpreter import use_project_python

if __name__ == "__main__":
    use_project_python(__file__)  # the checkout's .venv, when this Python lacks the requirements
    from trompa_mer.commands.create_user import main

    sys.exit(main())
