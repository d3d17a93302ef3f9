tenant      = "acme"
account     = "dev"
environment = "testenv-01"
region      = "us-east-1"
vpc_cidr    = "10.0.0.0/16"
tags = {
  Owner      = "platform"
  CostCenter = "1234"
}
