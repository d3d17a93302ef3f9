# platform-foundation: Phase 1: VPC, EKS cluster, IAM and security, Cilium CNI, essential add-ons
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
resource "terraform_data" "platform_foundation" {
  input = {
    component = "platform-foundation"
    stack     = "${var.tenant}-${var.account}-${var.environment}"
    region    = var.region
    vpc_cidr  = var.vpc_cidr
    tags      = var.tags
  }
}

output "id" {
  value = terraform_data.platform_foundation.id
}
