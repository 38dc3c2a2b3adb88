# A tiny Terraform project for the Backstop demo and tests.
#
# Only the built-in `terraform_data` resource (provider terraform.io/builtin/terraform), so
# `terraform init` downloads nothing. The S3 backend is left empty on purpose: the bucket, key,
# region and (locally) the emulator endpoint are passed at init time with
# `-backend-config=<file>` (see include/local/demo_terraform.py), so no endpoint or key is
# committed here.

terraform {
  required_version = ">= 1.5"
  backend "s3" {}
}

variable "release" {
  description = "Application release; changing it changes the state (and raises its serial)."
  type        = string
  default     = "v1"
}

variable "db_password" {
  description = "Stands in for the secrets a real state holds (Backstop must never log it)."
  type        = string
  sensitive   = true
  default     = "not-a-real-password"
}

resource "terraform_data" "network" {
  input = {
    vpc     = "triflow-ai-vpc"
    cidr    = "10.20.0.0/16"
    subnets = ["10.20.1.0/24", "10.20.2.0/24"]
  }
}

resource "terraform_data" "database" {
  input = {
    identifier = "triflow-ai-production-db"
    engine     = "postgres 15.7"
    password   = var.db_password
  }
  depends_on = [terraform_data.network]
}

resource "terraform_data" "app" {
  input            = { service = "triflow-ai-api", release = var.release }
  triggers_replace = [var.release]
  depends_on       = [terraform_data.database]
}

output "release" {
  value = terraform_data.app.output.release
}
