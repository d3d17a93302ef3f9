# The dynamodb component (modules/dynamodb), configured per stack by Atmos.
terraform {
  required_version = ">= 1.6.0"
  backend "s3" {} # bucket, key, region and locking are passed by Tropos at init
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

module "dynamodb" {
  source      = "../../../../modules/dynamodb"
  tenant      = var.tenant
  account     = var.account
  environment = var.environment
  region      = var.region
  vpc_cidr    = var.vpc_cidr
  tags        = var.tags
}
