using System.Text.Json;
using IngestFleet.Contracts;

namespace IngestFleet.Tests.Contracts;

/// <summary>The schema file is the contract: evaluated by JsonSchema.Net, and in agreement with the validator's rules.</summary>
public sealed class JobSchemaTests
{
    private static readonly string[] Priorities = ["online", "high", "normal", "bulk"];

    private const string Valid = """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk"}""";

    public static TheoryData<string, string> Invalid => new()
    {
        { """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg"}""", "priority" },
        { """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk","colour":"red"}""", "/colour" },
        { """{"tenant":"a b","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk"}""", "/tenant" },
        { """{"tenant":"acme","shard":"s1","item_id":"","image":"s3://b/k.jpg","priority":"bulk"}""", "/item_id" },
        { """{"tenant":null,"shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk"}""", "/tenant" },
        { """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk","schema_version":2}""", "/schema_version" },
        { """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk","replays":-1}""", "/replays" },
        { """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk","deadline":"tomorrow"}""", "/deadline" },
        { """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk","model_revision":"../x"}""", "/model_revision" },
        { "[1,2]", "/" },
    };

    [Fact]
    public void AValidJob_HasNoProblems_AndTheValidatorAgrees()
    {
        using var doc = JsonDocument.Parse(Valid);
        Assert.Empty(JobSchema.Evaluate(doc.RootElement));
        Assert.Empty(JobValidator.Validate(JobJson.Deserialize(System.Text.Encoding.UTF8.GetBytes(Valid))!, Priorities, allowFileScheme: false));
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void AnInvalidJob_IsRefused_NamingTheField(string json, string field)
    {
        using var doc = JsonDocument.Parse(json);
        var problems = JobSchema.Evaluate(doc.RootElement);
        Assert.NotEmpty(problems);
        Assert.Contains(problems, p => p.Contains(field, StringComparison.Ordinal));
    }

    /// <summary>Jobs that deserialize to a record the validator refuses, one per overlapping rule.</summary>
    public static TheoryData<string> RefusedByBoth => new()
    {
        """{"tenant":"a/b","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk"}""",
        """{"tenant":"acme","shard":"","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk"}""",
        """{"tenant":"acme","shard":"s1","item_id":"","image":"s3://b/k.jpg","priority":"bulk"}""",
        $$"""{"tenant":"acme","shard":"s1","item_id":"{{new string('x', 257)}}","image":"s3://b/k.jpg","priority":"bulk"}""",
        $$"""{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"https://e.com/{{new string('x', 2048)}}","priority":"bulk"}""",
        """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk","model_revision":"a b"}""",
        """{"tenant":"acme","shard":"s1","item_id":"sku-1","image":"s3://b/k.jpg","priority":"bulk","schema_version":2}""",
    };

    [Theory]
    [MemberData(nameof(RefusedByBoth))]
    public void WhatTheValidatorRefuses_TheSchemaRefusesToo(string json)
    {
        var job = JobJson.Deserialize(System.Text.Encoding.UTF8.GetBytes(json))!;
        Assert.NotEmpty(JobValidator.Validate(job, Priorities, allowFileScheme: false));
        using var doc = JsonDocument.Parse(json);
        Assert.NotEmpty(JobSchema.Evaluate(doc.RootElement));
    }

    [Fact]
    public void PublishedSerialization_IsValidAgainstTheSchema()
    {
        var job = new EmbedCatalogImage { Tenant = "t", Shard = "s", ItemId = "i", Image = "https://example.com/a.jpg", Priority = "online", EnqueuedAt = DateTimeOffset.UnixEpoch };
        Assert.Empty(JobSchema.Evaluate(JobJson.Serialize(job)));
    }

    [Fact]
    public void NotJson_IsOneProblem_NotAnException() =>
        Assert.Contains("not valid JSON", Assert.Single(JobSchema.Evaluate("{nope"u8.ToArray())), StringComparison.Ordinal);

    [Fact]
    public void TheSchemaText_IsTheFileInTheRepository()
    {
        var file = Path.Combine(TestPaths.RepositoryRoot, "src", "IngestFleet.Contracts", "schema", JobSchema.ResourceName);
        Assert.Equal(File.ReadAllText(file), JobSchema.Text);
    }
}
