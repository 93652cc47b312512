using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Messaging;

/// <summary>The fleet's queues and batching. Bound from <c>IngestFleet:Fleet</c>.</summary>
public sealed class FleetOptions : IValidatableObject
{
    public const string SectionName = "IngestFleet:Fleet";

    /// <summary>Priority classes, most urgent first; one durable queue each, named <c>{QueuePrefix}{class}</c>.</summary>
    /// <value>Default online, high, normal, bulk; configured classes (<c>IngestFleet:Fleet:Priorities:0..n</c>) replace
    /// them.</value>
    [MinLength(1)] public string[] Priorities => ConfiguredPriorities is { Length: > 0 } configured ? configured : DefaultPriorities;

    /// <summary>What configuration names under <c>Priorities</c>. A separate, initially empty property because the
    /// configuration binder appends a section's entries to an array's initial elements: had <see cref="Priorities"/>
    /// started with the four defaults, a chart or environment naming four classes would give eight.</summary>
    [Microsoft.Extensions.Configuration.ConfigurationKeyName("Priorities")] public string[]? ConfiguredPriorities { get; set; }

    public static readonly IReadOnlyList<string> DefaultPriorityClasses = ["online", "high", "normal", "bulk"];

    /// <summary>Configured classes must be names: none empty, none twice (a queue per class).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var p in ConfiguredPriorities ?? [])
            if (string.IsNullOrWhiteSpace(p))
                yield return new ValidationResult("IngestFleet:Fleet:Priorities has an empty class name", [nameof(Priorities)]);
        foreach (var twice in (ConfiguredPriorities ?? []).GroupBy(p => p, StringComparer.Ordinal).Where(g => g.Count() > 1))
            yield return new ValidationResult($"IngestFleet:Fleet:Priorities names {twice.Key} {twice.Count()} times", [nameof(Priorities)]);
    }
    private static readonly string[] DefaultPriorities = [.. DefaultPriorityClasses];

    /// <summary>The classes this worker consumes (empty: every class). A Kubernetes pool consumes one class, so KEDA
    /// scales each class on its own queue; a Mac node usually consumes all and schedules them by priority itself.</summary>
    /// <value>Default empty (all).</value>
    public string[] Consume { get; set; } = [];

    /// <value>Default "ingestfleet-".</value>
    public string QueuePrefix { get; set; } = "ingestfleet-";

    /// <summary>Images per batch: the batch consumer's message limit (the endpoint's prefetch is
    /// <see cref="Prefetch"/>, this times <see cref="BatchesInFlight"/>).</summary>
    /// <value>Default 16 (from tuning on 2-core CPU nodes; see README benchmarks).</value>
    [Range(1, 512)] public int BatchSize { get; set; } = 16;

    /// <summary>Batches a worker holds at once per queue: while one batch infers and writes its part, the next ones are
    /// already delivered, fetched and decoding, so the round trips to a distant broker and bucket (next delivery, GETs,
    /// the part's PUT, the acks) overlap the model's work instead of stalling it. Each batch is still acked only once
    /// its every item has its outcome. The CPU stages of concurrent batches share the cores through the priority gate
    /// (first come, first served within a class), so a second batch decodes while the first infers. <c>tune</c> writes
    /// the depth that hides its measured round trips (profile field <c>batches_in_flight</c>).</summary>
    /// <value>Default 2.</value>
    [Range(1, 16)] public int BatchesInFlight { get; set; } = 2;

    /// <summary>The endpoint's prefetch: a whole batch for each batch in flight.</summary>
    public int Prefetch => BatchSize * BatchesInFlight;

    /// <summary>How long a partial batch waits for more messages before it runs.</summary>
    /// <value>Default 100 ms.</value>
    [Range(1, 60_000)] public int BatchTimeLimitMs { get; set; } = 100;

    /// <summary>Quorum-queue delivery limit: a message returned this often (a worker crashed or was killed holding it) is
    /// dead-lettered by the broker into the poison queue, which the poison drain turns into dead-letter records.
    /// Consumer-side faults never get there: items are dead-lettered to S3 instead.</summary>
    /// <value>Default 10.</value>
    [Range(1, 1000)] public int DeliveryLimit { get; set; } = 10;

    /// <summary>The poison queue's own delivery limit: a message the drain returned this often (it could not record it)
    /// moves to <c>{prefix}poison-overflow</c>, a classic queue the drain also reads, instead of being dropped.</summary>
    /// <value>Default 100.</value>
    [Range(1, 100_000)] public int PoisonDeliveryLimit { get; set; } = 100;

    /// <summary>
    /// How often a job parked in an <c>_error</c> queue by an infrastructure fault (the store stayed down past its retry
    /// budget) is put back on its work queue by the poison drain once the store answers again. Past it, the job becomes
    /// a dead letter with reason <c>transient_exhausted</c>.
    /// </summary>
    /// <value>Default 5.</value>
    [Range(0, 1000)] public int ParkedRequeueLimit { get; set; } = 5;

    /// <summary>Replicas of each quorum queue the fleet declares (<c>x-quorum-initial-group-size</c>): members on that many
    /// cluster nodes, so a queue stays available while fewer than half of them are down. A cluster with fewer nodes gives
    /// each queue one replica per node. It only applies when a queue is created, and RabbitMQ refuses a declaration whose
    /// value differs from the existing queue's: 0 declares without it (RabbitMQ's default, a replica on every node of the
    /// cluster of the day), for queues an earlier build created so (see the README's broker upgrade notes).</summary>
    /// <value>Default 3.</value>
    [Range(0, 99)] public int QuorumInitialGroupSize { get; set; } = 3;

    /// <summary>Broker-side backstop (<c>x-max-length</c>, ready messages) with <c>x-overflow=reject-publish</c>.</summary>
    /// <value>Default 1,000,000.</value>
    [Range(1, int.MaxValue)] public int MaxQueueLength { get; set; } = 1_000_000;

    /// <summary>Concurrent image downloads per batch.</summary>
    [Range(1, 256)] public int FetchConcurrency { get; set; } = 16;

    /// <summary>Images decoded at once (0 = one per core).</summary>
    [Range(0, 256)] public int PreprocessParallelism { get; set; }

    /// <summary>Images per inference call inside a batch (0 = the whole batch, or half of it for a batch that yields to
    /// a more urgent class: see <see cref="EffectiveMicroBatchFor"/>). Without a fixed batch the first call takes an
    /// eighth of it, so inference starts after a few decodes and the rest of the batch decodes during that call
    /// (EmbeddingPipeline.MicroBatches); every further split costs ORT's per-call overhead.</summary>
    [Range(0, 512)] public int MicroBatch { get; set; }

    /// <summary>Images per inference call of a batch that yields to a more urgent class while that class has had work in
    /// the last <see cref="UrgentWindowSeconds"/> (0 = no such cap). A more urgent batch or query never waits for a less
    /// urgent call to start, but one already running goes on (at the lowest OS priority, on the cores the urgent work
    /// leaves) and still shares the memory bandwidth and caches with it: short calls keep that overlap short. Measured
    /// in the query benchmark (ViT-B/32-size, 2 cores, 300 queries a row): text query p95 under bulk ÷ idle 1.80 with
    /// half-batch calls, 1.36 with this (image queries 1.31 and 1.38), for about 16 % fewer bulk images meanwhile;
    /// without urgent work bulk keeps its long calls.</summary>
    [Range(0, 512)] public int MicroBatchWhileUrgent { get; set; } = 2;

    /// <summary>How long after its last urgent work a less urgent class keeps its short calls (<see cref="MicroBatchWhileUrgent"/>).</summary>
    [Range(0, 3600)] public double UrgentWindowSeconds { get; set; } = 10;

    /// <summary>Schedule decode and inference stages across concurrent batches by priority class (online first). Off
    /// only to measure what it buys (see the isolation benchmark).</summary>
    /// <value>Default true.</value>
    public bool PriorityScheduling { get; set; } = true;

    /// <summary>With priority scheduling, run the CPU stages of every class after the first on threads at a low OS
    /// priority (nice 19 on Linux, QoS utility on macOS) with their own ORT session, so the kernel preempts them for
    /// the first class. Costs one more copy of the model in memory.</summary>
    /// <value>Default true.</value>
    public bool LowPriorityBackground { get; set; } = true;

    /// <summary>Online queries (<c>POST /v1/embed</c>) a worker answers at once, each in the most urgent class.</summary>
    /// <value>Default 4.</value>
    [Range(1, 256)] public int QueryConcurrency { get; set; } = 4;

    /// <summary>Queries that may wait in one revision's query queue (<c>x-max-length</c>, reject-publish): past it the
    /// gateway answers 429 at once instead of letting callers wait out their deadlines. A quorum queue takes one
    /// message past the cap before it refuses (RabbitMQ 3.10, measured by EmbedQueryIntegrationTests).</summary>
    /// <value>Default 1,000.</value>
    [Range(1, 1_000_000)] public int QueryQueueMaxLength { get; set; } = 1000;

    /// <summary>The query queue of one model revision: online request/reply, served by the workers of that revision.</summary>
    public string QueryQueueName(string revision) => $"{QueuePrefix}query-{revision}";

    public string QueueName(string priority) => QueuePrefix + priority;
    public IEnumerable<string> QueueNames() => Priorities.Select(QueueName);

    /// <summary>The queues this worker consumes: <see cref="Consume"/>'s classes, or every class.</summary>
    public IEnumerable<string> ConsumedQueueNames() => ConsumedPriorities().Select(QueueName);

    /// <summary>The classes this worker consumes, most urgent first.</summary>
    public IEnumerable<string> ConsumedPriorities() => Consume.Length > 0 ? Priorities.Where(Consume.Contains) : Priorities;

    /// <summary>Whether a batch of <paramref name="priority"/> yields to a more urgent class this worker also consumes
    /// (with priority scheduling on).</summary>
    public bool YieldsToUrgent(string priority) => PriorityScheduling && ConsumedPriorities().FirstOrDefault() is { } top && top != priority;
    public int EffectivePreprocessParallelism => PreprocessParallelism > 0 ? PreprocessParallelism : Environment.ProcessorCount;
    public int EffectiveMicroBatch => EffectiveMicroBatchFor(yieldsToUrgent: false);

    /// <summary>The micro-batch of a batch of the most urgent class this worker serves (or of its only class): the whole
    /// batch. A batch of a less urgent class, which the priority gate holds back between inference calls while an
    /// online batch runs, uses calls of half a batch, so an online batch never waits behind a whole batch's inference
    /// (priority isolation benchmark: online p95 under bulk ÷ idle 1.27 with whole-batch calls, 1.13–1.15 with half).</summary>
    public int EffectiveMicroBatchFor(bool yieldsToUrgent) =>
        MicroBatch > 0 ? MicroBatch : yieldsToUrgent ? Math.Max(1, (BatchSize + 1) / 2) : BatchSize;
}
