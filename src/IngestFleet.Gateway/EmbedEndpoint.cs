using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using IngestFleet.Contracts;
using IngestFleet.Gateway.Security;
using IngestFleet.Messaging.Queries;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace IngestFleet.Gateway;

/// <summary>The body of <c>POST /v1/embed</c>.</summary>
public sealed record EmbedRequest
{
    /// <summary>The model revision whose space the vectors must be in (the catalog's); default the gateway's EmbedModel.</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }
    /// <summary>Required with images: the tenant whose sources they are (the key must be bound to it).</summary>
    [JsonPropertyName("tenant")] public string? Tenant { get; init; }
    [JsonPropertyName("texts")] public IReadOnlyList<string>? Texts { get; init; }
    /// <summary>Image sources (https:// or s3://), under the tenant's source allow-list as for jobs.</summary>
    [JsonPropertyName("images")] public IReadOnlyList<string>? Images { get; init; }
    /// <summary>How long the caller waits, in ms (default and maximum are the gateway's).</summary>
    [JsonPropertyName("deadline_ms")] public int? DeadlineMs { get; init; }
}

/// <summary>
/// <c>POST /v1/embed</c>: query vectors now, for a caller who waits. Authenticated like <c>/v1/jobs</c>; a small cap of
/// texts and image sources per request; sent to a worker of the named revision over RabbitMQ request/reply
/// (<see cref="QueryClient"/>), answered in the workers' most urgent class: 200 vectors · 400 invalid · 403 foreign
/// tenant · 413 too many inputs · 422 the revision has no text tower · 429 + Retry-After the key's requests in progress or
/// the revision's query queue is full · 503 + Retry-After the broker is unreachable, no worker serves the revision, or
/// its text tower cannot serve · 504 no answer within the deadline.
/// </summary>
public sealed class EmbedEndpoint(GatewayOptions options, GatewayAuthOptions auth, RequestSlots slots, QueryClient queries, TimeProvider time)
{
    public async Task<IResult> PostAsync(HttpContext http)
    {
        var (verdict, lease) = slots.TryEnter(RequestSlots.KeyOf(http));
        using (lease)
        {
            if (verdict == RequestSlots.Verdict.KeyBusy)
                return Refuse(http, 429, "This key has too many requests in progress", $"At most {slots.PerKey} requests per key are handled at once.", 1);
            if (verdict == RequestSlots.Verdict.GatewayBusy)
                return Refuse(http, 503, "The gateway is at its concurrent-request limit", $"{options.MaxConcurrentRequests} requests are being handled.", 1);
            return await HandleAsync(http);
        }
    }

    private async Task<IResult> HandleAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        EmbedRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync<EmbedRequest>(http.Request.Body, cancellationToken: http.RequestAborted);
        }
        catch (JsonException e)
        {
            return Problem(400, "The request body is not a valid embed request", e.Message);
        }
        if (request is null) return Problem(400, "The request body is empty", "Send {\"texts\": [...]} and/or {\"images\": [...]}.");
        var texts = request.Texts ?? [];
        var images = request.Images ?? [];
        var model = request.Model is { Length: > 0 } m ? m : options.EmbedModel;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (model.Length == 0) errors["model"] = ["name the model revision whose vectors you query (the catalog's)"];
        else if (!JobValidator.IsSafeSegment(model)) errors["model"] = ["is not a model revision name"];
        if (texts.Count + images.Count == 0) errors["texts"] = ["send at least one text or image"];
        for (var i = 0; i < texts.Count; i++)
            if (texts[i] is null) errors[$"texts[{i}]"] = ["is null"];
            else if (texts[i].Length > options.MaxEmbedTextChars) errors[$"texts[{i}]"] = [$"has {texts[i].Length} characters; at most {options.MaxEmbedTextChars}"];
        for (var i = 0; i < images.Count; i++)
            if (!Uri.TryCreate(images[i], UriKind.Absolute, out var u) || u.Scheme is not ("https" or "s3"))
                errors[$"images[{i}]"] = ["must be an https:// or s3:// source"];
        if (images.Count > 0 && string.IsNullOrEmpty(request.Tenant)) errors["tenant"] = ["is required with images: the tenant whose sources they are"];
        if (request.DeadlineMs is { } ms && (ms < 1 || ms > options.MaxEmbedDeadlineMs)) errors["deadline_ms"] = [$"must be 1..{options.MaxEmbedDeadlineMs}"];
        if (texts.Count + images.Count > options.MaxEmbedInputs)
            return Problem(413, "Too many inputs in one query", $"{texts.Count + images.Count} texts and images; at most {options.MaxEmbedInputs}. Embed catalogs with POST /v1/jobs.");
        if (errors.Count > 0) return Results.ValidationProblem(errors, title: "The embed request is invalid");
        if (request.Tenant is { Length: > 0 } tenant && (http.User.Identity?.IsAuthenticated == true || !auth.AllowAnonymous)
            && !ApiKeyAuthenticationHandler.MaySubmitFor(http.User, tenant))
            return Problem(403, "This API key may not query for this tenant", $"Key '{http.User.Identity?.Name}' is not bound to tenant {tenant}.");

        var deadline = time.GetUtcNow().AddMilliseconds(request.DeadlineMs ?? options.EmbedDeadlineMs);
        var answer = await queries.AskAsync(model, new EmbedQuery { Tenant = request.Tenant, Texts = texts, Images = images, Deadline = deadline }, http.RequestAborted);
        GatewayMetrics.EmbedLatency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds,
            new KeyValuePair<string, object?>("outcome", answer.Outcome.ToString().ToLowerInvariant()));
        switch (answer.Outcome)
        {
            case QueryOutcome.QueueFull: return Refuse(http, 429, "The model's query queue is full", answer.Detail!, 1);
            case QueryOutcome.NoWorker: return Refuse(http, 503, "No worker serves this model", answer.Detail!, 5);
            case QueryOutcome.BrokerDown: return Refuse(http, 503, "The broker is unavailable", answer.Detail!, 5);
            case QueryOutcome.DeadlinePassed: return Problem(504, "No answer within the deadline", answer.Detail!);
        }
        var reply = answer.Reply!;
        if (reply.Error is { } error)
            return error.Code switch
            {
                "no_text_tower" => Problem(422, "The model has no text tower", error.Detail),
                "text_tower_unavailable" => Refuse(http, 503, "The worker's text tower cannot serve", error.Detail, 5),
                "query_failed" => Refuse(http, 503, "The worker could not answer", error.Detail, 1),
                ReasonCodes.DeadlinePassed => Problem(504, "No answer within the deadline", error.Detail),
                _ => Problem(400, "The worker refused the query", error.ToString()),
            };
        return Results.Json(reply with { }, QueryClient.Json);
    }

    private static IResult Refuse(HttpContext http, int status, string title, string detail, int retryAfterSeconds)
    {
        http.Response.Headers[HeaderNames.RetryAfter] = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problem(status, title, detail);
    }

    private static IResult Problem(int status, string title, string detail) => Results.Problem(detail: detail, statusCode: status, title: title);
}
