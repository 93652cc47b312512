namespace IngestFleet.Messaging.Limits;

/// <summary>Resolves and validates the published limits of every priority queue.</summary>
public static class PublishedLimits
{
    /// <summary>Defaults by class name; a class with another name takes the defaults of its position (first = online-like,
    /// last = bulk-like).</summary>
    private static readonly (string Name, long MaxDepth, double WaitSlo, int ShedRank)[] Defaults =
    [
        ("online", 1_000, 2, 0),
        ("high", 10_000, 30, 0),
        ("normal", 100_000, 600, 1),
        ("bulk", 500_000, 6 * 3600, 2),
    ];

    public static IReadOnlyList<QueueLimit> Resolve(FleetOptions fleet, LimitsOptions options)
    {
        var result = new List<QueueLimit>(fleet.Priorities.Length);
        for (var i = 0; i < fleet.Priorities.Length; i++)
        {
            var name = fleet.Priorities[i];
            var d = Array.Find(Defaults, x => x.Name == name);
            if (d.Name is null)
                d = Defaults[fleet.Priorities.Length == 1 ? 0 : (int)Math.Round(i * (Defaults.Length - 1.0) / (fleet.Priorities.Length - 1))];
            options.Queues.TryGetValue(name, out var s);
            var max = s?.MaxDepth ?? Math.Min(d.MaxDepth, fleet.MaxQueueLength);
            result.Add(new QueueLimit(name, fleet.QueueName(name), max, s?.ResumeDepth ?? max * 4 / 5,
                s?.WaitSloSeconds ?? d.WaitSlo, s?.ShedRank ?? d.ShedRank));
        }
        return result;
    }

    /// <summary>Every problem with the configured limits, each naming the key and the fix.</summary>
    public static IReadOnlyList<string> Validate(FleetOptions fleet, LimitsOptions options)
    {
        var errors = new List<string>();
        foreach (var c in fleet.Consume.Where(c => !fleet.Priorities.Contains(c)))
            errors.Add($"{FleetOptions.SectionName}:Consume: {c} is not a priority class (classes are {string.Join(", ", fleet.Priorities)})");
        foreach (var key in options.Queues.Keys.Where(k => !fleet.Priorities.Contains(k)))
            errors.Add($"{LimitsOptions.SectionName}:Queues:{key}: no such priority class (classes are {string.Join(", ", fleet.Priorities)})");
        var limits = Resolve(fleet, options);
        foreach (var l in limits)
        {
            var at = $"{LimitsOptions.SectionName}:Queues:{l.Priority}";
            if (l.MaxDepth < 1) errors.Add($"{at}:MaxDepth is {l.MaxDepth}; it must be at least 1");
            if (l.MaxDepth > fleet.MaxQueueLength)
                errors.Add($"{at}:MaxDepth {l.MaxDepth} is above the broker backstop {FleetOptions.SectionName}:MaxQueueLength {fleet.MaxQueueLength}; lower it or raise the backstop");
            if (l.ResumeDepth < 0 || l.ResumeDepth >= l.MaxDepth)
                errors.Add($"{at}:ResumeDepth {l.ResumeDepth} must be at least 0 and below MaxDepth {l.MaxDepth} (it is where shedding stops)");
            if (!(l.WaitSloSeconds > 0)) errors.Add($"{at}:WaitSloSeconds {l.WaitSloSeconds} must be above 0");
            if (l.ShedRank < 0) errors.Add($"{at}:ShedRank {l.ShedRank} must be 0 (never shed) or above");
        }
        // A more urgent class may never be shed before a less urgent one.
        for (var i = 0; i < limits.Count; i++)
            for (var j = i + 1; j < limits.Count; j++)
                if (limits[i].ShedRank > 0 && limits[i].ShedRank > limits[j].ShedRank)
                    errors.Add($"{LimitsOptions.SectionName}:Queues:{limits[i].Priority}:ShedRank {limits[i].ShedRank} would shed {limits[i].Priority} before the less urgent " +
                        $"{limits[j].Priority} (ShedRank {limits[j].ShedRank}); give {limits[j].Priority} a rank of at least {limits[i].ShedRank}, or {limits[i].Priority} 0");
        foreach (var (pattern, rank) in options.ShardRanks)
        {
            if (rank < 0) errors.Add($"{LimitsOptions.SectionName}:ShardRanks:{pattern} is {rank}; ranks are 0 or above");
            if (pattern.Length == 0 || pattern.IndexOf('*') is >= 0 and var star && star != pattern.Length - 1)
                errors.Add($"{LimitsOptions.SectionName}:ShardRanks:{pattern}: use a shard name or a prefix ending in a single trailing *");
        }
        if (!(options.SampleIntervalSeconds > 0)) errors.Add($"{LimitsOptions.SectionName}:SampleIntervalSeconds must be above 0");
        if (!(options.ShedIntervalSeconds > 0)) errors.Add($"{LimitsOptions.SectionName}:ShedIntervalSeconds must be above 0");
        return errors;
    }

    /// <summary>The shed rank of a shard: an exact entry wins, then the longest matching prefix pattern, else 0.</summary>
    public static int ShardRank(LimitsOptions options, string shard)
    {
        if (options.ShardRanks.TryGetValue(shard, out var exact)) return exact;
        var best = (Length: -1, Rank: 0);
        foreach (var (pattern, rank) in options.ShardRanks)
            if (pattern.EndsWith('*') && shard.StartsWith(pattern[..^1], StringComparison.Ordinal) && pattern.Length > best.Length)
                best = (pattern.Length, rank);
        return best.Rank;
    }
}
