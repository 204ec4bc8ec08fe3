uint16_t mul8u_M(uint8_t A, uint8_t B)
{
  uint16_t P;
  /* P = B;
  P = A;
  return P;
}
