namespace IngestFleet.Operations.Acceptance;

/// <summary>What to plan for: a backlog to drain within an SLO, or a steady arrival rate to keep up with.</summary>
public sealed record PlanRequest(long? Backlog, double? ArrivalRate, double NodeRate, TimeSpan Slo, double PricePerHour, double MinRentalHours, TimeSpan ColdStart);

/// <summary>The plan: nodes, how long the work takes, what is billed.</summary>
public sealed record FleetPlan(int Nodes, TimeSpan TimeToDrain, double BilledHoursPerNode, double NodeHours, double Cost, double Utilization, IReadOnlyList<string> Steps);

/// <summary>
/// <c>ingestfleet plan</c>'s arithmetic. Backlog: the time left after cold start is the SLO minus the cold start;
/// nodes = ⌈backlog ÷ (node rate × that time)⌉; time to drain = cold start + backlog ÷ (nodes × node rate); each node is
/// billed for max(minimum rental, time to drain rounded up to whole minutes). Rate: nodes = ⌈arrival rate ÷ node rate⌉,
/// billed for the SLO window (or the minimum rental, whichever is longer).
/// </summary>
public static class FleetPlanner
{
    public static FleetPlan Plan(PlanRequest r)
    {
        if (r.NodeRate <= 0) throw new ArgumentOutOfRangeException(nameof(r), "the node rate must be above 0 images/s");
        var steps = new List<string>();
        int nodes;
        TimeSpan drain;
        double utilization;
        if (r.Backlog is { } backlog)
        {
            var working = r.Slo - r.ColdStart;
            if (working <= TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(nameof(r), $"the SLO {r.Slo} leaves no time after a cold start of {r.ColdStart}");
            var perNode = r.NodeRate * working.TotalSeconds;
            nodes = (int)Math.Max(1, Math.Ceiling(backlog / perNode));
            drain = r.ColdStart + TimeSpan.FromSeconds(backlog / (nodes * r.NodeRate));
            utilization = backlog / (nodes * perNode);
            steps.Add($"one node does {r.NodeRate:0.##} images/s × {working.TotalSeconds:0} s (SLO {r.Slo.TotalSeconds:0} s − cold start {r.ColdStart.TotalSeconds:0} s) = {perNode:0} images");
            steps.Add($"nodes = ⌈{backlog} ÷ {perNode:0}⌉ = {nodes}");
            steps.Add($"time to drain = {r.ColdStart.TotalSeconds:0} s + {backlog} ÷ ({nodes} × {r.NodeRate:0.##}) = {drain.TotalSeconds:0} s");
        }
        else if (r.ArrivalRate is { } rate)
        {
            nodes = (int)Math.Max(1, Math.Ceiling(rate / r.NodeRate));
            drain = r.Slo;
            utilization = rate / (nodes * r.NodeRate);
            steps.Add($"nodes = ⌈{rate:0.##} ÷ {r.NodeRate:0.##}⌉ = {nodes} (utilization {utilization:P0}); planned for {r.Slo.TotalHours:0.##} h");
        }
        else throw new ArgumentException("give a backlog or an arrival rate", nameof(r));

        var usedMinutes = Math.Ceiling(drain.TotalMinutes);
        var billed = Math.Max(r.MinRentalHours, usedMinutes / 60);
        if (r.MinRentalHours > usedMinutes / 60) steps.Add($"each node is billed the minimum rental of {r.MinRentalHours:0.##} h (it works {usedMinutes:0} min)");
        else steps.Add($"each node is billed {usedMinutes:0} min = {billed:0.##} h");
        var nodeHours = nodes * billed;
        steps.Add($"node-hours = {nodes} × {billed:0.##} = {nodeHours:0.##}; cost = {nodeHours:0.##} × {r.PricePerHour:0.##} = {nodeHours * r.PricePerHour:0.##}");
        return new FleetPlan(nodes, drain, billed, nodeHours, nodeHours * r.PricePerHour, utilization, steps);
    }
}
