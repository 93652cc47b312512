using System.Text;
using RabbitMQ.Client;

namespace IngestFleet.Messaging.Publishing;

/// <summary>Which broker users may publish jobs for which tenants. Bound from <c>IngestFleet:PublisherIdentity</c>.</summary>
public sealed class PublisherIdentityOptions
{
    public const string SectionName = "IngestFleet:PublisherIdentity";

    /// <summary>
    /// Whether a fleet worker dead-letters (<c>publisher_not_authorized</c>) a job whose publisher may not act for the
    /// job's tenant. The publisher is the message's AMQP <c>user_id</c>, which RabbitMQ checks against the connection's
    /// user, so a producer cannot claim another identity. Switch it off only where the broker itself grants write access
    /// to the class queues to the gateway's user alone. The embedded mode has no broker and ignores it.
    /// </summary>
    /// <value>Default true.</value>
    public bool Required { get; set; } = true;

    /// <summary>Broker user → the tenants it may publish jobs for (<c>*</c>: any tenant). The fleet's own broker user (the
    /// user in <c>IngestFleet:RabbitMq:Uri</c>, which the gateway, the CLI, replay and the shedder use) may publish for any
    /// tenant without being listed. Environment: <c>IngestFleet__PublisherIdentity__Tenants__{user}__0=tenant</c>.</summary>
    public Dictionary<string, string[]> Tenants { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// A job's publisher, bound to its broker identity. RabbitMQ refuses a message whose <c>user_id</c> differs from the
/// user of the connection that publishes it, so <c>user_id</c> names the producer that sent the job. When the fleet
/// republishes a job for somebody else (the shedder's tail requeue, the poison drain's requeue, replay) it publishes as
/// its own user and names the original publisher in <see cref="Header"/>; that header is believed only on messages
/// whose <c>user_id</c> is the fleet's own user, so no producer can borrow another's identity through it.
/// </summary>
public sealed class PublisherIdentity(string fleetUser, PublisherIdentityOptions options)
{
    /// <summary>The original publisher of a job the fleet republished ("" when the original named nobody).</summary>
    public const string Header = "x-ingestfleet-publisher";

    /// <summary>The tenant segment under which a job whose publisher may not act for its tenant is recorded (dead letter,
    /// shed or poison record), never under the tenant it claims.</summary>
    public const string UnauthorizedTenant = "_unauthorized";

    /// <summary>The tenant a record of this job is keyed under: its own, or <see cref="UnauthorizedTenant"/> when identity is
    /// required and its publisher may not act for it.</summary>
    public string KeyTenantFor(string? publisher, string tenant) => Required && Refusal(publisher, tenant) is not null ? UnauthorizedTenant : tenant;

    public PublisherIdentity(RabbitMqOptions rabbit, PublisherIdentityOptions options) : this(UserOf(new Uri(rabbit.Uri)), options) { }

    public string FleetUser => fleetUser;

    public bool Required => options.Required;

    /// <summary>The broker user a connection URI logs in as (what RabbitMQ compares <c>user_id</c> with).</summary>
    public static string UserOf(Uri amqpUri) => new ConnectionFactory { Uri = amqpUri }.UserName;

    /// <summary>Who published a delivery: its <c>user_id</c>, or for a job the fleet's own user republished, the publisher
    /// that republish named. Null: the message names nobody.</summary>
    public static string? PublisherOf(IReadOnlyBasicProperties properties, string fleetUser)
    {
        if (properties.UserId is not { Length: > 0 } user) return null;
        if (user == fleetUser && properties.Headers is { } headers && headers.TryGetValue(Header, out var relayed))
            return Text(relayed) is { Length: > 0 } original ? original : null;
        return user;
    }

    public string? PublisherOf(IReadOnlyBasicProperties properties) => PublisherOf(properties, fleetUser);

    /// <summary>Sets what a message the fleet publishes says about its publisher: <c>user_id</c> is always the sender
    /// (the broker checks it); a job published on behalf of another publisher (<paramref name="onBehalfOf"/>: a user, or
    /// "" for a job that named nobody) carries that publisher in <see cref="Header"/>. Null: the sender's own job.</summary>
    public static BasicProperties Stamp(BasicProperties properties, string sender, string? onBehalfOf)
    {
        properties.UserId = sender;
        var headers = properties.Headers is null ? new Dictionary<string, object?>(StringComparer.Ordinal) : new Dictionary<string, object?>(properties.Headers);
        if (onBehalfOf is null || onBehalfOf == sender) headers.Remove(Header);
        else headers[Header] = onBehalfOf;
        properties.Headers = headers.Count > 0 ? headers : null;
        return properties;
    }

    /// <summary>Why <paramref name="publisher"/> may not publish a job for <paramref name="tenant"/>; null when it may.</summary>
    public string? Refusal(string? publisher, string tenant)
    {
        if (publisher is not { Length: > 0 })
            return "the message names no publisher: publish with the AMQP user_id property set to your broker user (RabbitMQ checks it)";
        if (publisher == fleetUser) return null;
        if (options.Tenants.TryGetValue(publisher, out var tenants) && (tenants.Contains("*") || tenants.Contains(tenant, StringComparer.Ordinal)))
            return null;
        return $"broker user {publisher} may not publish for tenant {tenant} (IngestFleet:PublisherIdentity:Tenants)";
    }

    private static string? Text(object? value) => value switch { byte[] b => Encoding.UTF8.GetString(b), null => null, _ => value.ToString() };
}
