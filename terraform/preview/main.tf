# The previews envctl manages outside Kubernetes: one preview-env module per open preview.
#
# State: a local file by default. A team configures its shared backend at init time
# (`-backend-config`, or a backend block added here); envctl runs `init -input=false` and honours
# TF_CLI_CONFIG_FILE for a provider filesystem mirror or plugin cache.

terraform {
  required_version = ">= 1.4"
}

variable "previews" {
  description = "Preview name -> settings. envctl's preview workflow edits previews.auto.tfvars.json."
  type = map(object({
    database_size_gb = optional(number, 1)
  }))
  default = {}
}

variable "domain" {
  type    = string
  default = "preview.example.com"
}

module "env" {
  source   = "../modules/preview-env"
  for_each = var.previews

  name             = each.key
  domain           = var.domain
  database_size_gb = each.value.database_size_gb
}

output "fqdns" {
  value = { for name, env in module.env : name => env.fqdn }
}

output "database_urls" {
  value     = { for name, env in module.env : name => env.database_url }
  sensitive = true
}
