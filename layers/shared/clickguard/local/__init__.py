"""The local runtime: the CDK stack on an embedded moto server, plus the managed parts moto does not run
(the Kinesis event source mapping, the Firehose archive, the EventBridge schedule). Not shipped in the layer."""
