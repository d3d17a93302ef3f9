# services: Application services of the coarse-grained layout
terraform {
  required_version = ">= 1.6.0"
}

variable "tenant" { type = string }
variable "account" { type = string }
variable "environment" { type = string }
variable "region" { type = string }
variable "vpc_cidr" {
  type    = string
  default = ""
}
variable "tags" {
  type    = map(string)
  default = {}
}

# Stands in for the component's real resources in this example repository.
resource "terraform_data" "services" {
  input = {
    component = "services"
    stack     = "${var.tenant}-${var.account}-${var.environment}"
    region    = var.region
    vpc_cidr  = var.vpc_cidr
    tags      = var.tags
  }
}

output "id" {
  value = terraform_data.services.id
}
