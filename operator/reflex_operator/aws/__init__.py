"""Thin boto3 adapters: CodeBuild, ECS, Secrets Manager, ECR. Batching lives here."""
