"""Terraform state backups: state validation (state.py), the vault layout (vault.py), the
sources (sources.py: S3 backend workspaces, `terraform state pull`) and the CLI (cli.py)."""
