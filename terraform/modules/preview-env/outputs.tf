output "fqdn" {
  value = local.fqdn
}

output "database_name" {
  value = local.database_name
}

output "database_password" {
  description = "The generated password. Sensitive: envctl never shows it in comments, JSON or logs."
  value       = terraform_data.db_password.output
  sensitive   = true
}

output "database_url" {
  value     = "postgresql://${local.database_name}:${terraform_data.db_password.output}@db.${var.domain}:5432/${local.database_name}"
  sensitive = true
}
