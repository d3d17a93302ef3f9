tenant      = "acme"
account     = "dev"
environment = "platform"
region      = "us-east-1"
vpc_cidr    = "10.30.0.0/16"
tags = {
  Owner      = "platform"
  CostCenter = "1234"
}
