using System.Globalization;
using System.Text.Json;
using IngestFleet.Contracts;
using IngestFleet.Gateway.Security;
using IngestFleet.Messaging;
using IngestFleet.Messaging.Limits;
using IngestFleet.Messaging.Broker;
using IngestFleet.Messaging.Publishing;
using IngestFleet.ServiceDefaults;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace IngestFleet.Gateway;

/// <summary>
/// <c>POST /v1/jobs</c>: one job object, an array of jobs, or <c>{"jobs": [...]}</c>, in the documented schema
/// (schema/embed-catalog-image.v1.schema.json). The request is validated whole, admitted whole against the target
/// queues' published limits, then published with broker confirms before it is answered:
/// 202 accepted ids · 400 problem details per job and field · 408 body not received within the deadline · 413 body too
/// large · 429 + Retry-After over a limit (the key's requests in progress, its invalid-job allowance, the tenant's rate, a
/// queue's depth) · 503 + Retry-After when the gateway is at its request limit, or the broker is unreachable or does not
/// confirm. Nothing is buffered in the gateway.
/// </summary>
public sealed class JobsEndpoint(
    FleetOptions fleet, GatewayOptions options, GatewayAuthOptions auth, TenantRateLimiter tenantLimits, RequestSlots slots, AdmissionControl admission,
    IJobPublisher publisher, TimeProvider time, ILogger<JobsEndpoint> logger)
{
    /// <summary>The most invalid jobs one 400 answer lists; the rest are counted.</summary>
    public const int MaxInvalidJobsListed = 20;

    public async Task<IResult> PostAsync(HttpContext http)
    {
        // The key's own slot first, then one of the gateway's: a key past its share never touches the shared pool.
        var (verdict, lease) = slots.TryEnter(RequestSlots.KeyOf(http));
        using (lease)
        {
            switch (verdict)
            {
                case RequestSlots.Verdict.KeyBusy:
                    http.Response.Headers[HeaderNames.RetryAfter] = "1";
                    GatewayMetrics.Refused.Add(1, new KeyValuePair<string, object?>("http.response.status_code", 429));
                    return Problem(429, "This key has too many requests in progress; nothing was accepted",
                        $"At most {slots.PerKey} requests per key are handled at once. Wait for an answer before sending more, or retry after 1 s.");
                case RequestSlots.Verdict.GatewayBusy:
                    http.Response.Headers[HeaderNames.RetryAfter] = "1";
                    return Problem(503, "The gateway is at its concurrent-request limit; nothing was accepted",
                        $"{options.MaxConcurrentRequests} requests are being handled. Retry after 1 s.");
                default:
                    return await HandleAsync(http);
            }
        }
    }

    private async Task<IResult> HandleAsync(HttpContext http)
    {
        var ct = http.RequestAborted;
        var key = http.User.Identity?.Name; // invalid requests are charged to it
        if (tenantLimits.KeyMayPost(key) is { Granted: false } spent)
        {
            http.Response.Headers[HeaderNames.RetryAfter] = ((int)Math.Ceiling(spent.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problem(429, "This key sent too many invalid jobs", "Invalid jobs are charged to the key that sends them; retry later with valid jobs.");
        }
        JsonDocument doc;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.BodyReadTimeoutSeconds), time);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        try
        {
            doc = await JsonDocument.ParseAsync(http.Request.Body, default, reading.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // A body trickled in slower than the deadline allows: the slot goes back now and the connection is closed.
            tenantLimits.Charge(key, 1);
            http.Response.Headers[HeaderNames.Connection] = "close";
            return Problem(408, "The request body did not arrive in time; nothing was accepted",
                $"The whole body must arrive within {options.BodyReadTimeoutSeconds} s. Send it at once, or split the jobs into smaller requests.");
        }
        catch (JsonException e)
        {
            tenantLimits.Charge(key, 1);
            return Problem(400, "The request body is not valid JSON", $"{e.Message} Send one job object, an array of jobs, or {{\"jobs\": [...]}}.");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            tenantLimits.Charge(key, 1);
            return Problem(413, "The request body is too large", $"Bodies are limited to {options.MaxRequestBytes} bytes; split the jobs into smaller requests.");
        }
        using (doc)
        {
            var elements = doc.RootElement.ValueKind switch
            {
                JsonValueKind.Array => doc.RootElement.EnumerateArray().ToList(),
                JsonValueKind.Object when doc.RootElement.TryGetProperty("jobs", out var jobsProp) && jobsProp.ValueKind == JsonValueKind.Array =>
                    jobsProp.EnumerateArray().ToList(),
                JsonValueKind.Object => [doc.RootElement],
                _ => null,
            };
            if (elements is null || elements.Count == 0)
            {
                tenantLimits.Charge(key, 1);
                return elements is null
                    ? Problem(400, "The request body is not a job", "Send one job object, an array of jobs, or {\"jobs\": [...]}.")
                    : Problem(400, "No jobs in the request", "Send at least one job.");
            }
            if (elements.Count > options.MaxJobsPerRequest)
            {
                tenantLimits.Charge(key, 1);
                return Problem(413, "Too many jobs in one request", $"{elements.Count} jobs; at most {options.MaxJobsPerRequest} per request. Split the request.");
            }

            var jobs = new List<EmbedCatalogImage>(elements.Count);
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            for (var i = 0; i < elements.Count; i++)
            {
                var at = elements.Count == 1 && doc.RootElement.ValueKind == JsonValueKind.Object && !doc.RootElement.TryGetProperty("jobs", out _) ? "job" : $"jobs[{i}]";
                if (elements[i].ValueKind != JsonValueKind.Object)
                {
                    errors[at] = [$"must be a JSON object, not {elements[i].ValueKind}"];
                    continue;
                }
                var schemaProblems = JobSchema.Evaluate(elements[i]);
                if (schemaProblems.Count > 0)
                {
                    errors[at] = schemaProblems.ToArray();
                    continue;
                }
                EmbedCatalogImage? job;
                try
                {
                    job = elements[i].Deserialize<EmbedCatalogImage>();
                }
                catch (JsonException e)
                {
                    errors[at] = [$"does not match the job schema: {e.Message}"];
                    continue;
                }
                if (job is null) { errors[at] = ["is null"]; continue; }
                if (job.SchemaVersion != EmbedCatalogImage.CurrentSchemaVersion)
                {
                    errors[at] = [$"schema_version {job.SchemaVersion} is not supported (this gateway speaks {EmbedCatalogImage.CurrentSchemaVersion})"];
                    continue;
                }
                var problems = JobValidator.Validate(job, fleet.Priorities, allowFileScheme: false);
                if (problems.Count > 0) errors[at] = problems.ToArray();
                else jobs.Add(job);
            }
            if (errors.Count > 0)
            {
                // Bounded answers: at most MaxInvalidJobsListed jobs are listed (each with at most JobSchema.MaxProblemsPerJob problems).
                var listed = errors.Take(MaxInvalidJobsListed).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                if (errors.Count > listed.Count) listed["more"] = [$"{errors.Count - listed.Count} more invalid jobs are not listed"];
                tenantLimits.Charge(key, elements.Count);
                return Results.ValidationProblem(listed, title: $"{errors.Count} of {elements.Count} jobs are invalid; nothing was accepted",
                    detail: "Fix the listed jobs and send the request again.");
            }

            // The key must be bound to every tenant in the request (with AllowAnonymous and no key, any tenant goes).
            if (http.User.Identity?.IsAuthenticated == true || !auth.AllowAnonymous)
            {
                var foreign = jobs.Select(j => j.Tenant).Distinct(StringComparer.Ordinal)
                    .Where(t => !ApiKeyAuthenticationHandler.MaySubmitFor(http.User, t)).ToList();
                if (foreign.Count > 0)
                {
                    GatewayMetrics.Refused.Add(jobs.Count, new KeyValuePair<string, object?>("http.response.status_code", 403));
                    return Problem(403, "This API key may not submit for these tenants; nothing was accepted",
                        $"Key '{key}' is not bound to tenant(s) {string.Join(", ", foreign)}.");
                }
            }
            foreach (var tenant in jobs.GroupBy(j => j.Tenant, StringComparer.Ordinal))
            {
                var (granted, retryAfter) = tenantLimits.TryTake(tenant.Key, tenant.Count());
                if (granted) continue;
                GatewayMetrics.Refused.Add(jobs.Count, new KeyValuePair<string, object?>("http.response.status_code", 429));
                http.Response.Headers[HeaderNames.RetryAfter] = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return Problem(429, "Tenant over its submission rate; nothing was accepted",
                    $"Tenant {tenant.Key} may submit {auth.RateOf(tenant.Key).JobsPerSecond} jobs/s (bursts of {auth.RateOf(tenant.Key).Burst}). Retry after {retryAfter.TotalSeconds:F0} s.");
            }

            var perPriority = jobs.GroupBy(j => j.Priority).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            foreach (var (priority, n) in perPriority)
                if (admission.Limits.First(l => l.Priority == priority) is { } limit && n > limit.MaxDepth)
                    return Problem(413, "More jobs than the queue may ever hold",
                        $"{n} jobs for {limit.Queue}, whose published max depth is {limit.MaxDepth}. Split the request.");
            var perTenant = jobs.GroupBy(j => (j.Tenant, j.Priority)).ToDictionary(g => g.Key, g => g.Count());
            foreach (var ((tenant, priority), n) in perTenant)
                if (admission.TenantCap(tenant, priority) is { } cap && n > cap)
                    return Problem(413, "More jobs than the tenant's share of the queue may ever hold",
                        $"{n} jobs of tenant {tenant} for {fleet.QueueName(priority)}, where the tenant may have at most {Math.Floor(cap)}. Split the request.");

            var decision = await admission.TryAdmitAsync(perPriority, ct, perTenant);
            if (decision.Verdict != AdmissionVerdict.Accept)
            {
                var status = decision.Verdict == AdmissionVerdict.BrokerDown ? 503 : 429;
                foreach (var (priority, n) in perPriority)
                    GatewayMetrics.Refused.Add(n, new("messaging.destination.name", fleet.QueueName(priority)), new("http.response.status_code", status));
                http.Response.Headers[HeaderNames.RetryAfter] = ((int)decision.RetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
                var title = decision.Verdict switch
                {
                    AdmissionVerdict.OverLimit => "Queue over its published limit; nothing was accepted",
                    AdmissionVerdict.OverTenantShare => "Tenant over its share of the queue; nothing was accepted",
                    _ => "The broker is unavailable; nothing was accepted",
                };
                return Problem(status, title, $"{decision.Detail}. Retry after {decision.RetryAfter.TotalSeconds:F0} s.");
            }

            PublishSummary summary;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                timeout.CancelAfter(TimeSpan.FromSeconds(options.PublishTimeoutSeconds));
                try
                {
                    summary = await publisher.PublishAsync(jobs, null, timeout.Token);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    foreach (var ((tenant, priority), n) in perTenant) admission.Release(priority, n, tenant);
                    logger.LogWarning("publish failed: {Error}", e.Message);
                    http.Response.Headers[HeaderNames.RetryAfter] = "5";
                    return Problem(503, "The broker is unavailable; nothing was accepted", "Retry after 5 s.");
                }
            }
            foreach (var (job, _) in summary.Failed) admission.Release(job.Priority, 1, job.Tenant);
            foreach (var g in jobs.Except(summary.Failed.Select(f => f.Job)).GroupBy(j => j.Priority))
                GatewayMetrics.Accepted.Add(g.Count(), new KeyValuePair<string, object?>("messaging.destination.name", fleet.QueueName(g.Key)));
            var failedKeys = summary.Failed.Select(f => f.Job).ToHashSet();
            var accepted = jobs.Where(j => !failedKeys.Contains(j)).Select(j => j.ItemId).ToArray();
            if (summary.Failed.Count > 0)
            {
                http.Response.Headers[HeaderNames.RetryAfter] = "5";
                return Results.Json(new
                {
                    type = "https://httpstatuses.io/503",
                    title = "The broker did not confirm every job",
                    status = 503,
                    detail = "Resend only the jobs listed under not_confirmed; the accepted ones are stored.",
                    accepted,
                    not_confirmed = summary.Failed.Select(f => new { item_id = f.Job.ItemId, error = f.Error }),
                }, statusCode: 503, contentType: "application/problem+json");
            }
            return Results.Json(new JobsAccepted(accepted.Length, accepted, perPriority.ToDictionary(kv => fleet.QueueName(kv.Key), kv => kv.Value)),
                statusCode: StatusCodes.Status202Accepted);
        }
    }

    private static IResult Problem(int status, string title, string detail) => Results.Problem(detail: detail, statusCode: status, title: title);
}
