# dev/testenv-01: the apigateway component (modules/apigateway), with its own state
# (dev/testenv-01/apigateway/terraform.tfstate).
terraform {
  required_version = ">= 1.6.0"
  backend "s3" {} # bucket, key, region and locking are passed by Tropos at init
}

variable "tenant" { type = string }
variable "account" { type = string }
variable "environment" { type = string }
variable "region" { type = string }
variable "vpc_cidr" { type = string }
variable "tags" { type = map(string) }

module "apigateway" {
  source      = "../../../../../modules/apigateway"
  tenant      = var.tenant
  account     = var.account
  environment = var.environment
  region      = var.region
  vpc_cidr    = var.vpc_cidr
  tags        = var.tags
}
