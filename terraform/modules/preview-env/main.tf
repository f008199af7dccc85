# One preview environment's pieces outside Kubernetes: a DNS record for its ingress and a
# database with a generated password.
#
# Built only from Terraform's built-in `terraform_data`, so it plans and applies with no provider
# registry. Each resource records the desired object; the team's real DNS/database providers
# (from a filesystem mirror, see docs/terraform.md) replace these one for one, keeping the
# variables and outputs.

terraform {
  required_version = ">= 1.4"
}

resource "terraform_data" "dns_record" {
  input = {
    fqdn  = local.fqdn
    type  = "CNAME"
    value = var.ingress_target
    ttl   = var.dns_ttl
  }
}

# Generated once, then kept: ignore_changes stops uuid() from rolling the password on every plan.
# sensitive() marks it in the state too, so even a destroy plan prints "(sensitive value)".
resource "terraform_data" "db_password" {
  input = sensitive(substr(sha256("${uuid()}/${var.name}/${timestamp()}"), 0, 32))

  lifecycle {
    ignore_changes = [input]
  }
}

resource "terraform_data" "database" {
  input = {
    name    = local.database_name
    owner   = local.database_name
    engine  = "postgres"
    version = var.postgres_version
    size_gb = var.database_size_gb
  }
  # a new password means a new role: replace the database's credentials with it
  triggers_replace = [terraform_data.db_password.id]
}

locals {
  fqdn          = "${var.name}.${var.domain}"
  database_name = replace(var.name, "-", "_")
}
