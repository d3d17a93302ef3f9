tenant      = "acme"
account     = "prod"
environment = "main"
region      = "us-east-1"
vpc_cidr    = "10.20.0.0/16"
tags = {
  Owner      = "platform"
  CostCenter = "1234"
}
