"""Amazon ECR: repositories and their images, pushed through ecslite's registry and run as ECS tasks."""
