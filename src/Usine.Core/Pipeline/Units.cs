namespace Usine.Pipeline;

/// <summary>Converts measurements between units of the same dimension (temperature, energy, pressure...).</summary>
public static class Units
{
    private readonly record struct Unit(string Dimension, double Factor, double Offset);

    // Each unit is written as (value * Factor + Offset) in the dimension's base unit.
    private static readonly Dictionary<string, Unit> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        ["degC"] = new("temperature", 1, 0),
        ["°C"] = new("temperature", 1, 0),
        ["C"] = new("temperature", 1, 0),
        ["degF"] = new("temperature", 5.0 / 9.0, -32 * 5.0 / 9.0),
        ["°F"] = new("temperature", 5.0 / 9.0, -32 * 5.0 / 9.0),
        ["K"] = new("temperature", 1, -273.15),
        ["Wh"] = new("energy", 1, 0),
        ["kWh"] = new("energy", 1e3, 0),
        ["MWh"] = new("energy", 1e6, 0),
        ["J"] = new("energy", 1 / 3600.0, 0),
        ["kJ"] = new("energy", 1 / 3.6, 0),
        ["MJ"] = new("energy", 1e6 / 3600.0, 0),
        ["W"] = new("power", 1, 0),
        ["kW"] = new("power", 1e3, 0),
        ["MW"] = new("power", 1e6, 0),
        ["Pa"] = new("pressure", 1, 0),
        ["kPa"] = new("pressure", 1e3, 0),
        ["MPa"] = new("pressure", 1e6, 0),
        ["bar"] = new("pressure", 1e5, 0),
        ["mbar"] = new("pressure", 100, 0),
        ["psi"] = new("pressure", 6894.757293168, 0),
        ["Nm"] = new("torque", 1, 0),
        ["N.m"] = new("torque", 1, 0),
        ["kNm"] = new("torque", 1e3, 0),
        ["lbf.ft"] = new("torque", 1.3558179483314, 0),
        ["lbf.in"] = new("torque", 0.112984829, 0),
        ["mm"] = new("length", 1e-3, 0),
        ["cm"] = new("length", 1e-2, 0),
        ["m"] = new("length", 1, 0),
        ["in"] = new("length", 0.0254, 0),
        ["ms"] = new("duration", 1e-3, 0),
        ["s"] = new("duration", 1, 0),
        ["min"] = new("duration", 60, 0),
        ["h"] = new("duration", 3600, 0),
        ["g"] = new("mass", 1e-3, 0),
        ["kg"] = new("mass", 1, 0),
        ["t"] = new("mass", 1e3, 0),
        ["lb"] = new("mass", 0.45359237, 0),
        ["A"] = new("current", 1, 0),
        ["mA"] = new("current", 1e-3, 0),
        ["V"] = new("voltage", 1, 0),
        ["mV"] = new("voltage", 1e-3, 0),
        ["kV"] = new("voltage", 1e3, 0),
        ["l/min"] = new("flow", 1, 0),
        ["m3/h"] = new("flow", 1000.0 / 60.0, 0),
        ["rpm"] = new("rotation", 1, 0),
        ["%"] = new("ratio", 1, 0),
        ["deg"] = new("angle", 1, 0),
        ["rad"] = new("angle", 180 / Math.PI, 0),
    };

    public static bool IsKnown(string unit) => Known.ContainsKey(unit);

    /// <summary>Builds a converter from one unit to another; explains why when the two cannot be converted.</summary>
    public static Func<double, double> Converter(string from, string to)
    {
        if (string.Equals(from, to, StringComparison.OrdinalIgnoreCase))
        {
            return static v => v;
        }

        if (!Known.TryGetValue(from, out var a))
        {
            throw new FormatException($"unknown unit '{from}' (known: {string.Join(", ", Known.Keys)})");
        }

        if (!Known.TryGetValue(to, out var b))
        {
            throw new FormatException($"unknown unit '{to}' (known: {string.Join(", ", Known.Keys)})");
        }

        if (a.Dimension != b.Dimension)
        {
            throw new FormatException($"cannot convert {a.Dimension} '{from}' to {b.Dimension} '{to}'");
        }

        return v => ((v * a.Factor) + a.Offset - b.Offset) / b.Factor;
    }
}
