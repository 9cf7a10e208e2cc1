/** A JSON body in an OpenAPI operation: its schema and one example. */
export const json = <S>(schema: S, example: unknown) => ({ 'application/json': { schema, example } });
