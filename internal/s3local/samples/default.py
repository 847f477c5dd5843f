"""A minimal PySpark job: s3local serves it for a .py file that has no sample of its own."""
from pyspark.sql import SparkSession

if __name__ == "__main__":
    spark = SparkSession.builder.appName("s3local-sample").getOrCreate()
    spark.range(10).selectExpr("sum(id) AS total").show()
    spark.stop()
