# Durable path: recaps to S3 through Firehose, read with Athena (docs/FLEET.md).
# The function's firehose:// sink (HTTPRECAP_SINKS in main.tf) puts one recap per line to this
# stream, allowed by aws_iam_policy.put_recaps. Firehose delivers the recaps gzip-compressed
# under recaps/day=YYYY-MM-DD/ (UTC), the `day` partition the Glue table in recaps_athena.tf
# projects.

variable "recaps_retention_days" {
  description = "Days the recaps delivered to S3 (and Athena's results) are kept"
  type        = number
  default     = 30
}

data "aws_caller_identity" "recaps" {}

resource "aws_s3_bucket" "recaps" {
  bucket_prefix = "httprecap-recaps-"
}

resource "aws_s3_bucket_public_access_block" "recaps" {
  bucket                  = aws_s3_bucket.recaps.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "recaps" {
  bucket = aws_s3_bucket.recaps.id

  rule {
    id     = "expire-recaps"
    status = "Enabled"
    filter {}
    expiration {
      days = var.recaps_retention_days
    }
  }
}

resource "aws_iam_role" "recaps_delivery" {
  name_prefix = "httprecap-recaps-delivery-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "firehose.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = data.aws_caller_identity.recaps.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "recaps_delivery" {
  name = "deliver-recaps"
  role = aws_iam_role.recaps_delivery.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = [
        "s3:AbortMultipartUpload",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:PutObject",
      ]
      Resource = [aws_s3_bucket.recaps.arn, "${aws_s3_bucket.recaps.arn}/*"]
    }]
  })
}

resource "aws_kinesis_firehose_delivery_stream" "recaps" {
  name        = "httprecap-recaps"
  destination = "extended_s3"

  extended_s3_configuration {
    bucket_arn          = aws_s3_bucket.recaps.arn
    role_arn            = aws_iam_role.recaps_delivery.arn
    prefix              = "recaps/day=!{timestamp:yyyy-MM-dd}/"
    error_output_prefix = "errors/!{firehose:error-output-type}/day=!{timestamp:yyyy-MM-dd}/"
    compression_format  = "GZIP"
    buffering_interval  = 300 # an object every 5 minutes or 64 MB, whichever comes first
    buffering_size      = 64
  }
}

resource "aws_iam_policy" "put_recaps" {
  name_prefix = "httprecap-put-recaps-"
  description = "Lets the function's firehose:// sink put its recaps"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "firehose:PutRecordBatch"
      Resource = aws_kinesis_firehose_delivery_stream.recaps.arn
    }]
  })
}

resource "aws_iam_role_policy_attachment" "orders_put_recaps" {
  role       = aws_iam_role.orders.name
  policy_arn = aws_iam_policy.put_recaps.arn
}

resource "aws_athena_workgroup" "recaps" {
  name          = "httprecap"
  description   = "httprecap's fleet queries over the recaps in S3"
  force_destroy = true

  configuration {
    enforce_workgroup_configuration = true
    bytes_scanned_cutoff_per_query  = 10737418240 # 10 GiB: a runaway query stops at ~$0.05

    result_configuration {
      output_location = "s3://${aws_s3_bucket.recaps.bucket}/athena-results/"
    }
  }
}

output "recaps_s3_url" {
  description = "Read what Firehose delivered (one day): httprecap view <this>day=YYYY-MM-DD/"
  value       = "s3://${aws_s3_bucket.recaps.bucket}/recaps/"
}

output "athena_workgroup" {
  description = "The workgroup holding the httprecap-* named queries"
  value       = aws_athena_workgroup.recaps.name
}
