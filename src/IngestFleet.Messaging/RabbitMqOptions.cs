using System.ComponentModel.DataAnnotations;

namespace IngestFleet.Messaging;

/// <summary>Broker connection. Bound from <c>IngestFleet:RabbitMq</c>.</summary>
public sealed class RabbitMqOptions
{
    public const string SectionName = "IngestFleet:RabbitMq";

    /// <value>Default amqp://guest:guest@127.0.0.1:5672/ (guest only connects from loopback).</value>
    [Required, RegularExpression("^amqps?://.+", ErrorMessage = "IngestFleet:RabbitMq:Uri must be an amqp:// or amqps:// URI")]
    public string Uri { get; set; } = "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary>Management API, for queue depth including unacked messages.</summary>
    [Required, Url]
    public string ManagementUri { get; set; } = "http://127.0.0.1:15672";
}
