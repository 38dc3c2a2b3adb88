"""Non-DAG project files: policy, the local stack, Terraform demo."""
