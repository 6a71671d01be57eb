"""`python -m privshare` is the `privshare` command."""

from privshare.cli import app

app(prog_name="privshare")
