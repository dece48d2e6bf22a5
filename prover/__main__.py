from prover.cli import app

app()
