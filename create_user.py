"""Create a user: models/users/USER_ID/ with a copy of the pretrained committee.

The command lives in trompa_mer/commands/create_user.py (also installed as trompa-mer-create-user).
"""

import sys

from trompa_mer.commands.create_user import main

if __name__ == "__main__":
    sys.exit(main())
