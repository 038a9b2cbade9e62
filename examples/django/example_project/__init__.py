"""
The example uses the portcullis_django package. Installed (pip install
packages/django, as in the container image) it is used as is; run from the
repository, the package's source folder is put on the path.
"""
import importlib.util
import os
import sys

if importlib.util.find_spec("portcullis_django") is None:
    sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "packages", "django")))
