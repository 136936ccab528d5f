from aesthetic.cli import app

app(prog_name="aesthetic")
