using Microsoft.Extensions.Options;

namespace IngestFleet.Messaging.Limits;

/// <summary>Fails start-up when the limits are inconsistent.</summary>
public sealed class LimitsValidator(IOptions<FleetOptions> fleet) : IValidateOptions<LimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        var errors = PublishedLimits.Validate(fleet.Value, options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
