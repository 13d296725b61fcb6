# Terraform: the orders-api example with the httprecap layer.
#   httprecap layer build                       # dist/httprecap-layer.zip, at the repo root
#   (cd examples/orders && pip install -r requirements.txt -t build && cp app.py build/)
#   cd examples/orders/terraform && terraform init && terraform apply
# The two lines that matter are marked (1) attach the layer and (2) set the wrapper;
# fleet.tf adds the fleet's saved queries, dashboard and alarms (docs/FLEET.md);
# recaps_delivery.tf and recaps_athena.tf the durable path: Firehose to S3, Glue, Athena.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "orders_api_url" {
  type        = string
  default     = "https://api.example.com"
  description = "Base URL of the upstream orders API"
}

provider "aws" {
  region = var.region
}

locals {
  repo      = "${path.module}/../../.."
  layer_zip = "${local.repo}/dist/httprecap-layer.zip"
}

resource "aws_lambda_layer_version" "httprecap" {
  layer_name               = "httprecap"
  description              = "Recap of every outbound HTTP call of each invocation"
  filename                 = local.layer_zip
  source_code_hash         = filebase64sha256(local.layer_zip)
  compatible_runtimes      = ["python3.10", "python3.11", "python3.12", "python3.13", "python3.14"]
  compatible_architectures = ["x86_64"]
  license_info             = "Apache-2.0"
}

data "archive_file" "orders" {
  type        = "zip"
  source_dir  = "${path.module}/../build" # app.py with requests installed beside it
  output_path = "${path.module}/orders.zip"
}

resource "aws_s3_bucket" "receipts" {
  bucket_prefix = "orders-receipts-"
}

resource "aws_dynamodb_table" "orders" {
  name         = "orders"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "orderId"

  attribute {
    name = "orderId"
    type = "S"
  }
}

resource "aws_iam_role" "orders" {
  name = "orders-api"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "orders" {
  role = aws_iam_role.orders.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.orders.arn}:*"
      },
      {
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject"]
        Resource = "${aws_s3_bucket.receipts.arn}/*"
      },
      {
        Effect   = "Allow"
        Action   = ["dynamodb:PutItem", "dynamodb:GetItem"]
        Resource = aws_dynamodb_table.orders.arn
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "orders" {
  name              = "/aws/lambda/orders-api"
  retention_in_days = 14
}

resource "aws_lambda_function" "orders" {
  function_name    = "orders-api"
  runtime          = "python3.12"
  architectures    = ["x86_64"]
  handler          = "app.handler"
  filename         = data.archive_file.orders.output_path
  source_code_hash = data.archive_file.orders.output_base64sha256
  role             = aws_iam_role.orders.arn
  timeout          = 15
  memory_size      = 256
  layers           = [aws_lambda_layer_version.httprecap.arn] # (1) attach the layer

  environment {
    variables = {
      AWS_LAMBDA_EXEC_WRAPPER = "/opt/httprecap-wrapper" # (2) load httprecap in the function
      HTTPRECAP_SINKS         = "stdout,emf,firehose://${aws_kinesis_firehose_delivery_stream.recaps.name}"
      ORDERS_API_URL          = var.orders_api_url
      ORDERS_BUCKET           = aws_s3_bucket.receipts.bucket
      ORDERS_TABLE            = aws_dynamodb_table.orders.name
    }
  }

  depends_on = [aws_cloudwatch_log_group.orders]
}

output "read_the_recaps" {
  description = "(3) read the recaps"
  value       = "httprecap view --log-group ${aws_cloudwatch_log_group.orders.name} --since 1h"
}
