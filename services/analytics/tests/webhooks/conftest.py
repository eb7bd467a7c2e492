"""Tests run in importlib mode, where a test folder is not on ``sys.path``; the webhook
test support (the receiver, the app helpers) lives next to this file, so it is put there."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
