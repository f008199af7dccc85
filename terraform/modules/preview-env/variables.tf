variable "name" {
  description = "The preview environment's name, e.g. pr-42 (a DNS label)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label: lowercase letters, digits and '-', at most 63 characters."
  }
}

variable "domain" {
  description = "The zone preview records live in."
  type        = string
  default     = "preview.example.com"
}

variable "ingress_target" {
  description = "What the preview's record points at (the ingress controller's name)."
  type        = string
  default     = "ingress.preview.example.com"
}

variable "dns_ttl" {
  type    = number
  default = 300
}

variable "postgres_version" {
  type    = string
  default = "16"
}

variable "database_size_gb" {
  type    = number
  default = 1
  validation {
    condition     = var.database_size_gb >= 1 && var.database_size_gb <= 50
    error_message = "database_size_gb must be between 1 and 50."
  }
}
